"""pausegate.calls"""
