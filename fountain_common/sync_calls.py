"""`run_sync`: SQLAlchemy's `greenlet_spawn` with its greenlets used again.

SQLAlchemy's asyncio layer runs its synchronous code (the pool's checkout and checkin, say) in a new
greenlet for every call, so that the code can wait on the driver through `await_`. Making that
greenlet costs about 8 µs; switching to one that exists costs about 0.5 µs. A read route checks a
connection out and back in on every request, so it runs them here, on greenlets kept for the next
call. Behaviour is greenlet_spawn's: the function runs in the calling task's context, `await_`
inside it waits on the event loop, an exception (a cancellation too) reaches the function where it
waits and, if not handled there, the caller.
"""

import sys
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from greenlet import GreenletExit, getcurrent, greenlet

T = TypeVar("T")
_KEPT = 32  # idle greenlets kept a thread: more than a pool's requests ever wait in checkout at once


class _Outcome:
    """What a call ended with, as the runner hands it back (an `await_` hands back an awaitable)."""

    __slots__ = ("value", "error")

    def __init__(self, value: Any, error: BaseException | None) -> None:
        self.value = value
        self.error = error


class _Runner(greenlet):  # type: ignore[misc]  # greenlet is untyped
    __sqlalchemy_greenlet_provider__ = True  # what SQLAlchemy's await_ looks for


def _serve(call: tuple[Callable[..., Any], tuple[Any, ...]]) -> None:
    while True:
        function, arguments = call
        try:
            outcome = _Outcome(function(*arguments), None)
        except GreenletExit:
            raise  # the greenlet is being discarded
        except BaseException as error:
            outcome = _Outcome(None, error)
        call = getcurrent().parent.switch(outcome)


_idle = threading.local()


async def run_sync(function: Callable[..., T], *arguments: Any) -> T:
    """Run SQLAlchemy's synchronous `function(*arguments)` as `greenlet_spawn` does."""
    driver = getcurrent()
    idle: list[_Runner] = _idle.__dict__.setdefault("runners", [])
    if idle:
        runner = idle.pop()
        runner.parent = driver
    else:
        runner = _Runner(_serve, driver)
    runner.gr_context = driver.gr_context  # the calling task's context variables
    result = runner.switch((function, arguments))
    while not isinstance(result, _Outcome):  # an awaitable from await_: wait for it here
        try:
            value = await result
        except BaseException:
            result = runner.throw(*sys.exc_info())
        else:
            result = runner.switch(value)
    runner.gr_context = None  # keeps no task's context alive
    if len(idle) < _KEPT:
        idle.append(runner)
    if result.error is not None:
        raise result.error
    answer: T = result.value
    return answer
