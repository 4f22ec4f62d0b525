"""The public shapes that two services publish alike (a material: uploads answers it, the course
document of the courses service lists it)."""
