"""Courses: CRUD, the nested structure document, lessons, slide mapping and the cost report."""
