"""callport.nlu."""
