"""Scheduled jobs of grid governance (registered with the worker when imported)."""
from civic.grid import service
from civic.worker import job


@job("grid_escalate_overdue", minutes=10)
def grid_escalate_overdue(app, now):
    """Pass reports past their deadline up a level (community → street → district) and turn them red."""
    return service.escalate_overdue(now=now)


@job("grid_weekly_analysis", hours=1)
def grid_weekly_analysis(app, now):
    """周分析: last week's summary for each street and community, once, to the inboxes."""
    from civic.grid import summaries

    return summaries.make_summaries("week", now=now)


@job("grid_monthly_summary", hours=1)
def grid_monthly_summary(app, now):
    """月汇总: last month's summary for each street and community, once, to the inboxes."""
    from civic.grid import summaries

    return summaries.make_summaries("month", now=now)
