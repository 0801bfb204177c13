"""callport.agents.taskmanager: the offline Task Manager voice agent and its JSON API.

``task_manager_factory(store)`` gives an ``AgentFactory``; ``api.task_routes(store)`` the HTTP
routes. The intent model loads lazily on the first turn (or on ``build_classifier().warm()``).
"""

from callport.agents.taskmanager.agent import TaskManagerAgent, task_manager_factory
from callport.agents.taskmanager.examples import build_classifier

__all__ = ["TaskManagerAgent", "build_classifier", "task_manager_factory"]
