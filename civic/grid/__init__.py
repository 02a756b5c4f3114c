"""Grid governance (网格化): grid roles, daily rounds, departments and dispatch, the street's command view."""
