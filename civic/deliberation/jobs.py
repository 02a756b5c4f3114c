"""Scheduled jobs of deliberation: invitations, reminders, the end of residents' evaluations."""
from civic.deliberation import service
from civic.worker import job


@job("deliberation_invitations", minutes=1)
def invitations(app, now):
    """Invite the people expected at newly planned sessions."""
    return service.send_invitations(now=now)


@job("deliberation_reminders", minutes=5)
def reminders(app, now):
    """Remind the people expected two hours before a session."""
    return service.send_reminders(now=now)


@job("deliberation_evaluations", minutes=5)
def evaluations(app, now):
    """Adopt major items whose residents' evaluation ended without a veto."""
    return service.finish_evaluations(now=now)
