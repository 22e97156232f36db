"""pausegate.sdp"""
