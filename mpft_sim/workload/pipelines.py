"""How one pipeline rank's program is recorded: the items (:class:`Item`) and messages
(:class:`Message`) of a rank, and the generators of DualPipe/DualPipeV, 1F1B and ZB-H1 that
emit them as the reference code runs (:class:`Recorder` tracks its pending P2P list, so the
posted ``batch_isend_irecv`` batches match it). :mod:`mpft_sim.workload.schedules` validates a
schedule and calls these."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["Item", "Links", "Message", "Recorder", "dualpipe_program", "one_f_one_b_program",
           "zb_h1_program"]


@dataclass(frozen=True)
class Message:
    """A P2P tensor between neighbouring pipeline ranks.

    Attributes
    ----------
    peer : int
        The other pipeline rank (the receiver in a send, the sender in a receive).
    kind : {"a", "g"}
        Activation (forward) or gradient (backward).
    module : int
        Which of the rank's modules produced or consumes it (0 or 1; always 0 for 1F1B and
        ZB1P). A message always joins the same module index on both ranks.
    mb : int
        Micro-batch index within that module's direction, from 0.
    """

    peer: int
    kind: Literal["a", "g"]
    module: int
    mb: int


@dataclass(frozen=True)
class Item:
    """One compute item of a pipeline rank, in program order.

    Attributes
    ----------
    kind : {"F", "B", "W", "FB"}
        Forward, backward, deferred weight-gradient work, or an overlapped forward and
        backward pair (DualPipe's F&B).
    f : tuple of (int, int) or None
        ``(module, mb)`` of the forward part (F and FB), else None.
    b : tuple of (int, int) or None
        ``(module, mb)`` of the backward part (B and FB), else None.
    zero_bubble : bool
        True for a B whose weight-gradient work is deferred to a later W. The backward of an
        FB is always a full backward, so this is False there.
    recvs : tuple of Message
        Inputs that must have arrived before the item can start (production semantics).
    sends : tuple of Message
        Outputs the item produces, sent when it finishes (production semantics).
    posted : tuple of (str, Message)
        The reference code's ``batch_isend_irecv`` posted just before this item, as
        ``("s" | "r", Message)`` in posting order; empty if nothing was posted.
    """

    kind: Literal["F", "B", "W", "FB"]
    f: tuple[int, int] | None
    b: tuple[int, int] | None
    zero_bubble: bool
    recvs: tuple[Message, ...]
    sends: tuple[Message, ...]
    posted: tuple[tuple[str, Message], ...]


# (upstream rank, downstream rank) of one module, in that module's flow direction; None where
# the data enters from the host or loss, or is handed over locally (DualPipeV's turn-around).
Links = tuple[int | None, int | None]


@dataclass
class Recorder:
    """Builds one rank's item list while tracking the reference code's pending P2P list."""

    links: Callable[[int], Links]
    items: list[Item] = field(default_factory=list)
    pending: list[tuple[str, Message]] = field(default_factory=list)
    # next micro-batch per module for each counter; the reference keeps the same six counters
    f_next: list[int] = field(default_factory=lambda: [0, 0])
    b_next: list[int] = field(default_factory=lambda: [0, 0])
    recv_f_next: list[int] = field(default_factory=lambda: [0, 0])
    recv_b_next: list[int] = field(default_factory=lambda: [0, 0])
    send_f_next: list[int] = field(default_factory=lambda: [0, 0])
    send_b_next: list[int] = field(default_factory=lambda: [0, 0])
    weight_queue: int = 0

    # -- posting: these mirror when the reference appends to its pending list ------------------

    def _post(self, op: str, kind: Literal["a", "g"], module: int, upstream: bool,
              counter: list[int]) -> None:
        """Append a send or receive to the pending list, numbered per module in FIFO order,
        unless this rank is the direction's end (no upstream or downstream peer)."""
        peer = self.links(module)[0 if upstream else 1]
        if peer is not None:
            self.pending.append((op, Message(peer, kind, module, counter[module])))
            counter[module] += 1

    def recv_forward(self, module: int) -> None:
        self._post("r", "a", module, True, self.recv_f_next)

    def send_forward(self, module: int) -> None:
        self._post("s", "a", module, False, self.send_f_next)

    def recv_backward(self, module: int) -> None:
        self._post("r", "g", module, False, self.recv_b_next)

    def send_backward(self, module: int) -> None:
        self._post("s", "g", module, True, self.send_b_next)

    # -- compute: each item first posts (and in the reference, waits for) the pending list ----

    def _emit(
        self,
        kind: Literal["F", "B", "W", "FB"],
        f: int | None = None,
        b: int | None = None,
        zero_bubble: bool = False,
    ) -> None:
        recvs: list[Message] = []
        sends: list[Message] = []
        f_part = b_part = None
        if f is not None:
            mb = self.f_next[f]
            self.f_next[f] += 1
            f_part = (f, mb)
            src, dst = self.links(f)
            if src is not None:
                recvs.append(Message(src, "a", f, mb))
            if dst is not None:
                sends.append(Message(dst, "a", f, mb))
        if b is not None:
            mb = self.b_next[b]
            self.b_next[b] += 1
            b_part = (b, mb)
            src, dst = self.links(b)
            if dst is not None:
                recvs.append(Message(dst, "g", b, mb))
            if src is not None:
                sends.append(Message(src, "g", b, mb))
        self.items.append(
            Item(kind, f_part, b_part, zero_bubble, tuple(recvs), tuple(sends), tuple(self.pending))
        )
        self.pending = []

    def forward(self, module: int, recv: bool = True, send: bool = True) -> None:
        if recv:
            self.recv_forward(module)
        self._emit("F", f=module)
        if send:
            self.send_forward(module)

    def backward(
        self, module: int, zero_bubble: bool = False, recv: bool = True, send: bool = True
    ) -> None:
        if recv:
            self.recv_backward(module)
        self._emit("B", b=module, zero_bubble=zero_bubble)
        self.weight_queue += zero_bubble
        if send:
            self.send_backward(module)

    def forward_backward(self, f: int, b: int, recv_f: bool = True) -> None:
        if recv_f:
            self.recv_forward(f)
        self.recv_backward(b)
        self._emit("FB", f=f, b=b)
        self.send_forward(f)
        self.send_backward(b)

    def weight(self) -> None:
        # a W runs the oldest deferred weight-gradient group, so one must be queued
        if self.weight_queue == 0:
            raise AssertionError("W scheduled with no deferred weight-gradient work")
        self.weight_queue -= 1
        self._emit("W")


@dataclass(frozen=True)
class DualPipeRole:
    """What one rank does in DualPipe or DualPipeV.

    Attributes
    ----------
    half : int
        Ranks per direction (``pp // 2``; ``pp`` for DualPipeV).
    dist : int
        The rank's distance to the nearest pipeline end (its rank for DualPipeV).
    per_dir : int
        Micro-batches per direction.
    near, far : int
        The module (direction) injected at this rank's own end, and the other.
    special : bool
        One of the ranks where the two streams meet (the last rank for DualPipeV).
    wait : int
        How far the rank is from where the two streams first meet.
    """

    half: int
    dist: int
    per_dir: int
    near: int
    far: int
    special: bool

    @property
    def wait(self) -> int:
        return self.half - self.dist - 1

    @classmethod
    def of(cls, pp: int, rank: int, num_chunks: int, v: bool) -> DualPipeRole:
        """The role of ``rank`` of ``pp`` with ``num_chunks`` micro-batches."""
        if v:
            # DualPipeV: one input end (rank 0); "near" is module 0 everywhere, and the last
            # rank, where the V turns around, takes the special-case role of DualPipe's middle
            # ranks
            return cls(pp, rank, num_chunks, 0, 1, rank == pp - 1)
        half = pp // 2
        # the second half injects direction U (module 1) at its own end
        near, far = (1, 0) if rank >= half else (0, 1)
        return cls(half, min(rank, pp - 1 - rank), num_chunks // 2, near, far,
                   rank in (half - 1, half))


def dualpipe_program(recorder: Recorder, pp: int, rank: int, num_chunks: int, v: bool) -> None:
    """The 8-step DualPipe (``v=False``) or DualPipeV (``v=True``) program of one rank."""
    # One function because it transcribes the reference schedule's eight steps in order, so
    # that it can be read against DualPipe's own code step by step.
    role = DualPipeRole.of(pp, rank, num_chunks, v)
    half, dist, per_dir = role.half, role.dist, role.per_dir
    near, far, special, wait = role.near, role.far, role.special, role.wait
    r = recorder

    # step 1: warm-up forwards of the near direction
    for _ in range(2 * wait):
        r.forward(near)
    # step 2: alternate near and far forwards; the next near input is always pre-posted
    r.recv_forward(near)
    for i in range(dist + 1):
        # a special rank's near output feeds the other special rank's next far forward, so it
        # goes out at once instead of after the far forward
        r.forward(near, recv=False, send=special)
        r.recv_forward(near)
        # the special rank's last far output waits for the un-overlapped start of step 4
        r.forward(far, send=not special or i < dist)
        if not special:
            r.send_forward(near)
    # step 3: zero-bubble far backwards, each weight pass filling the gap before the next F
    for _ in range(wait):
        r.backward(far, zero_bubble=True)
        r.recv_forward(far)
        r.weight()
        r.forward(far, recv=False)
    # step 4: steady state, two overlapped F&B chunks per iteration
    for i in range(per_dir - 2 * half + dist + 1):
        if i == 0 and special:
            # the reference runs these two un-overlapped to shrink the bubble
            r.forward(near, recv=False, send=False)
            r.send_forward(far)
            r.backward(far, send=False)
            r.send_forward(near)
            r.send_backward(far)
        else:
            # the first near input was pre-posted at the end of step 2
            r.forward_backward(near, far, recv_f=i > 0)
        r.forward_backward(far, near)
    # step 5: cool-down, the far stream has no forwards left
    for _ in range(wait):
        r.backward(far)
        r.forward_backward(far, near)
    # step 6: backwards only; the later half defer their weight work to fill step 7/8 gaps
    zero_bubble = False
    for i in range(dist + 1):
        if i == (dist + 1) // 2 and dist % 2 == 1:
            zero_bubble = True
        r.backward(far, zero_bubble=zero_bubble)
        if i == (dist + 1) // 2 and dist % 2 == 0:
            zero_bubble = True
        r.backward(near, zero_bubble=zero_bubble)
    # step 7: drain the weight queue one step behind the remaining near backwards
    for _ in range(wait):
        r.weight()
        r.backward(near, zero_bubble=True)
    # step 8: the rest of the queued weight work
    for _ in range(dist + 1):
        r.weight()


def one_f_one_b_program(recorder: Recorder, pp: int, rank: int, num_chunks: int) -> None:
    """Standard non-interleaved 1F1B: warm-up forwards, steady F then B, cool-down B."""
    warmup = pp - rank - 1
    for _ in range(warmup):
        recorder.forward(0)
    for _ in range(num_chunks - warmup):
        recorder.forward(0)
        recorder.backward(0)
    for _ in range(warmup):
        recorder.backward(0)


def zb_h1_program(recorder: Recorder, pp: int, rank: int, num_chunks: int) -> None:
    """ZB-H1: 1F1B with input-gradient-only B and deferred W, at 1F1B's peak memory.

    Stage ``i`` runs ``pp - i`` forwards, then ``num_chunks - pp`` steady rounds of B, W, F
    (W before F so at most ``pp`` micro-batches are ever in flight), then ``pp - 1`` cool-down
    gaps between backwards, filled first with the ``i`` forwards it still owes downstream and
    then with W, and finally ``i + 1`` trailing W. With F = B_input = W the backward chain runs
    without a gap from the last stage to the first and no stage idles after its first B.
    """
    r = recorder
    for _ in range(pp - rank):
        r.forward(0)
    for _ in range(num_chunks - pp):
        r.backward(0, zero_bubble=True)
        r.weight()
        r.forward(0)
    for gap in range(pp - 1):
        r.backward(0, zero_bubble=True)
        if gap < rank:
            r.forward(0)
        else:
            r.weight()
    r.backward(0, zero_bubble=True)
    for _ in range(rank + 1):
        r.weight()
