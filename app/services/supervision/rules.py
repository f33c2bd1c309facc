"""The supervision rules' ids (GB/T 39046 alert records carry a rule id), and which of them are cards."""

TASK_DUE_SOON = "TASK_DUE_SOON"            # 事前预警: a step nears its deadline
CASE_DUE_SOON = "CASE_DUE_SOON"            # 事前预警: a case nears its committed deadline
TASK_OVERDUE = "TASK_OVERDUE"              # 事中督办: a step passed its deadline
TASK_REMINDER = "TASK_REMINDER"            # 催办: repeated daily while the step stays overdue
CASE_OVERDUE = "CASE_OVERDUE"              # 事中督办: a case passed its committed deadline
STATUTORY_DUE_SOON = "STATUTORY_DUE_SOON"  # 事前预警: a case nears its statutory deadline (法定时限)
STATUTORY_OVERDUE = "STATUTORY_OVERDUE"    # 事中督办: a case broke the law's deadline, the gravest
PRE_REVIEW_DUE_SOON = "PRE_REVIEW_DUE_SOON"  # 第32条: an online application's 5 days end tomorrow
PRE_REVIEW_OVERDUE = "PRE_REVIEW_OVERDUE"    # 第32条: undecided in time, so deemed accepted (逾期视为受理)
PROMISE_DUE_SOON = "PROMISE_DUE_SOON"      # 容缺: a promised material is due the next working day
PROMISE_OVERDUE = "PROMISE_OVERDUE"        # 容缺: a promised material was not brought by its date
COMPLETED_LATE = "COMPLETED_LATE"          # 事后: 已办结(超时)
OVERDUE_NOT_HANDLED = "OVERDUE_NOT_HANDLED"  # 事后: 超期未办 beyond N days
REFUSED_WITHOUT_REASON = "REFUSED_WITHOUT_REASON"
BAD_RATING_NOT_FOLLOWED = "BAD_RATING_NOT_FOLLOWED"
COMPLETED_NOT_ARCHIVED = "COMPLETED_NOT_ARCHIVED"  # 事后: 办结未归档 (no sealed package in time)
ARCHIVE_FILING_FAILED = "ARCHIVE_FILING_FAILED"    # filing gave up: a material missing, or the disk
WEEKLY_CARDS = "WEEKLY_CARDS"              # 红牌/黄牌 tally per department

# A card (红牌/黄牌) is one violation: a deadline crossed once, or a refusal without a reason. Reminders
# (催办), pre-warnings and the long-overdue audit are not cards: they repeat what one violation began.
# Crossing a step's own limit is a yellow card; crossing the case's committed or statutory deadline,
# or refusing without a reason, a red one. A late completion is a card only if the committed
# deadline's crossing was not already one (the sweep may not have run between the two).
CARD_COLOURS = {TASK_OVERDUE: "yellow", CASE_OVERDUE: "red", COMPLETED_LATE: "red", STATUTORY_OVERDUE: "red",
                REFUSED_WITHOUT_REASON: "red"}
