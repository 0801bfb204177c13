"""callport.agents.taskmanager."""
