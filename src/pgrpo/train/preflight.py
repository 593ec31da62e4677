"""Start-up checks that depend on what each rank can reach, agreed by every rank.

Owns `agreed_service_checks(config)`. `pgrpo train` validates its recipe offline first: before
the process group exists, a rank that fails alone leaves the others waiting in the rendezvous,
and their eventual error names nothing. Once every rank is up, each one contacts the services
the recipe names - the reward model's manifest and max_length at `reward.rm_url` (and the recipe
keys checked against them), every `sandbox.url` service's /health (API version, isolation,
limits) and, from them, the reward side's time budget (`validate_train_config` with contact) -
and a failure on any rank becomes an error on every rank naming that rank and its error, which
names the URL (`pgrpo.train.distributed.agree`). A service that goes down later fails a training
step, at which every rank stops too (`pgrpo.train.trl_hooks`). Also owns
`agreed_verifier(config)`: each rank starts its verifier (a local sandbox's jail can fail on one
node only: a container without user namespaces), and every rank stops if any rank's failed.
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
