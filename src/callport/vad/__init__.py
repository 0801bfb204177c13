"""callport.vad."""
