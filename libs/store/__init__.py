"""One owner per shared table: every statement on courses, materials, the structure and the slide
mapping is written here, with the tenant id as an argument.
"""
