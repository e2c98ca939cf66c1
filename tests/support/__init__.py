"""What several kinds of system tests share (one place, so they do not each grow a copy)."""
