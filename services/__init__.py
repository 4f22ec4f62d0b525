"""Course Supporter's Falcon services, one package each."""
