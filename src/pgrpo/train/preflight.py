"""Start-up checks agreed by every rank: the services the recipe names (`agreed_service_checks`)
and this rank's sandbox (`agreed_verifier`); a failure on one rank stops every rank, naming it.
"""

from __future__ import annotations

from pgrpo.train.config import TrainConfig, validate_train_config
from pgrpo.train.distributed import agree
from pgrpo.verify import Verifier, task_type


def _sandbox_services(config: TrainConfig) -> None:
    """Every `sandbox.url` service's /health, checked against the recipe (RemoteSandboxError naming the URL)."""
    from pgrpo.sandbox.remote import RemoteSandbox

    with RemoteSandbox(config.sandbox.urls, config.sandbox) as client:
        for url in config.sandbox.urls:
            client.health(url)


def agreed_service_checks(config: TrainConfig) -> None:
    """Contact the recipe's services from this rank; every rank raises if any rank failed (a collective)."""
    error: Exception | None = None
    try:
        validate_train_config(config, contact=True)
        if task_type(config.task).sandboxed and config.sandbox.urls:
            _sandbox_services(config)
    except Exception as exc:  # any failure: the other ranks must hear of it, not wait for this rank
        error = exc
    agree("checking the services the recipe names", error)


def agreed_verifier(config: TrainConfig) -> Verifier:
    """This rank's started verifier (`pgrpo.train.tasks.make_verifier`); every rank raises if any
    rank could not start its own (a collective)."""
    from pgrpo.train.tasks import make_verifier

    verifier: Verifier | None = None
    error: Exception | None = None
    try:
        verifier = make_verifier(config)
    except Exception as exc:  # e.g. IsolationError naming the cause: the other ranks must hear of it
        error = exc
    try:
        agree("starting the sandbox", error)
    except BaseException:
        if verifier is not None:
            verifier.close()
        raise
    assert verifier is not None  # agree raised otherwise
    return verifier
