"""pausegate.sip"""
