"""csi-bot: Continual Service Improvement in Slack."""

__version__ = "0.1.0"
