"""callport.call."""
