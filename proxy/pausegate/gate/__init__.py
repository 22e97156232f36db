"""pausegate.gate"""
