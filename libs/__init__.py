"""Everything two or more Course Supporter services share."""
