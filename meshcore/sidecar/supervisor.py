"""The mesh's children are supervised by `meshcore.supervisor` (one supervisor for the project).

Kept so that code importing the old location keeps working; new code imports `meshcore.supervisor`.
"""

from meshcore.supervisor import ManagedProcess, ProcessSpec, RestartPolicy, Supervisor

__all__ = ["ManagedProcess", "ProcessSpec", "RestartPolicy", "Supervisor"]
