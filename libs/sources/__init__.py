"""What a material may be made of: the file types the API accepts and the web addresses it may fetch."""
