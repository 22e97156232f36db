"""pausegate.io"""
