"""Each agent's typed parameters, actions and declaration (AGENT), one module per agent."""
