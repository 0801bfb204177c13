"""callport.agents."""
