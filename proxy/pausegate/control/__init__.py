"""pausegate.control"""
