"""Scheduled jobs of deliberation: invitations, reminders, the end of residents' evaluations."""
from civic.deliberation import service
from civic.worker import schedule

schedule("deliberation_invitations", service.send_invitations, minutes=1)
schedule("deliberation_reminders", service.send_reminders, minutes=5)
schedule("deliberation_evaluations", service.finish_evaluations, minutes=5)
