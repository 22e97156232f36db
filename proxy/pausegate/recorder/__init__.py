"""pausegate.recorder"""
