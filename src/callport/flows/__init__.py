"""callport.flows."""
