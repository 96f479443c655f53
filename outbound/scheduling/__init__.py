"""Pure time math (no I/O, no clock): send windows, when-to-send rules, mailbox slots.

Workflows, activities and the API's schedule preview all call these functions,
so the plan shown to a user is the plan the workflows follow. All inputs and
outputs are aware UTC datetimes; local time exists only inside these functions,
computed for the day in question (never "today's" UTC offset).
"""
