"""The programme's rules applied to records: pure functions of records, a profile and ``as_of``.

Nothing here reads a file, a database or the clock: callers pass the day to judge by, and the
same inputs always give the same answer, so the nightly run, a test and an officer re-checking
last quarter agree. Texts an officer reads (reasons, stages, states) are Chinese.
"""

from sheetsync.domain.agencies import AgencyScore, below_threshold, quarter_bounds, rate_agencies
from sheetsync.domain.lifecycle import (
    AuditStatus,
    CertificateState,
    CertificateStatus,
    OverdueFlag,
    ReauditStatus,
    Suspension,
    audit_status,
    audit_statuses,
    certificate_status,
    certificate_statuses,
    reaudit_statuses,
)
from sheetsync.domain.panels import (
    PURPOSE_ACCEPTANCE,
    PURPOSE_EVALUATION,
    PanelDraw,
    PanelShortage,
    PastPanel,
    draw_panel,
)
from sheetsync.domain.progress import (
    MetricProgress,
    Owned,
    ProgrammeRecords,
    ProgressReport,
    ScopeKind,
    ScopeProgress,
    progress,
)
from sheetsync.domain.projects import (
    ApplicationWindow,
    Instalment,
    InstalmentState,
    IssueSeverity,
    ProjectIssue,
    ProjectStatus,
    application_windows,
    project_status,
    project_statuses,
)

__all__ = [
    "PURPOSE_ACCEPTANCE",
    "PURPOSE_EVALUATION",
    "AgencyScore",
    "ApplicationWindow",
    "AuditStatus",
    "CertificateState",
    "CertificateStatus",
    "Instalment",
    "InstalmentState",
    "IssueSeverity",
    "MetricProgress",
    "OverdueFlag",
    "Owned",
    "PanelDraw",
    "PanelShortage",
    "PastPanel",
    "ProgrammeRecords",
    "ProgressReport",
    "ProjectIssue",
    "ProjectStatus",
    "ReauditStatus",
    "ScopeKind",
    "ScopeProgress",
    "Suspension",
    "application_windows",
    "audit_status",
    "audit_statuses",
    "below_threshold",
    "certificate_status",
    "certificate_statuses",
    "draw_panel",
    "progress",
    "project_status",
    "project_statuses",
    "quarter_bounds",
    "rate_agencies",
    "reaudit_statuses",
]
