"""The pysnmp 7 (asyncio) backend of :class:`~routepilot.telemetry.snmp.SnmpClient`.

MIB lookups are turned off (``lookupMib=False``): the poller speaks numeric OIDs
only, which saves loading and resolving MIB modules on every response.
"""

from __future__ import annotations

from pysnmp.hlapi.v3arch.asyncio import (
    USM_AUTH_HMAC96_SHA,
    USM_AUTH_HMAC192_SHA256,
    USM_PRIV_CFB128_AES,
    CommunityData,
    ContextData,
    ObjectIdentity,
    ObjectType,
    SnmpEngine,
    Udp6TransportTarget,
    UdpTransportTarget,
    UsmUserData,
    bulk_walk_cmd,
    get_cmd,
)
from pysnmp.hlapi.varbinds import CommandGeneratorVarBinds
from pysnmp.proto import errind
from pysnmp.proto.rfc1905 import EndOfMibView, NoSuchInstance, NoSuchObject

from routepilot.telemetry.config import SnmpAgentConfig
from routepilot.telemetry.snmp import AUTH, ERROR_STATUS, TIMEOUT, TRANSPORT, SnmpError

_AUTH_PROTOCOLS = {"SHA": USM_AUTH_HMAC96_SHA, "SHA256": USM_AUTH_HMAC192_SHA256}
_PRIV_PROTOCOLS = {"AES": USM_PRIV_CFB128_AES}

# Error indications that mean the agent refused our credentials (RFC 3414 section 3.2
# reports), as opposed to not answering at all.
_AUTH_ERRORS = (
    errind.WrongDigest,
    errind.UnknownUserName,
    errind.DecryptionError,
    errind.UnsupportedSecurityLevel,
    errind.AuthenticationFailure,
    errind.AuthenticationError,
    errind.UnknownCommunityName,
    errind.NotInTimeWindow,
    errind.UnknownSecurityName,
)


def _value(v: object) -> int | str | None:
    if isinstance(v, NoSuchObject | NoSuchInstance | EndOfMibView):
        return None
    try:
        return int(v)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return v.prettyPrint() if hasattr(v, "prettyPrint") else str(v)


class PysnmpClient:
    """One agent, polled through one pysnmp engine (shared or not)."""

    def __init__(self, agent: SnmpAgentConfig, engine: SnmpEngine | None = None) -> None:
        self.agent = agent
        self.engine = engine or SnmpEngine()
        self._own_engine = engine is None
        if agent.version == "2c":
            assert agent.community is not None  # the model requires it for v2c
            self.auth: CommunityData | UsmUserData = CommunityData(
                agent.community.get_secret_value(), mpModel=1
            )
        else:
            assert agent.auth_key is not None and agent.priv_key is not None
            self.auth = UsmUserData(
                agent.user,
                authKey=agent.auth_key.get_secret_value(),
                privKey=agent.priv_key.get_secret_value(),
                authProtocol=_AUTH_PROTOCOLS[agent.auth_protocol],
                privProtocol=_PRIV_PROTOCOLS[agent.priv_protocol],
            )
        self._target: UdpTransportTarget | Udp6TransportTarget | None = None
        self._varbinds: dict[tuple[str, ...], tuple[ObjectType, ...]] = {}

    def _request(self, oids: list[str]) -> tuple[ObjectType, ...]:
        """The request's varbinds, resolved once and reused: pysnmp skips resolving a varbind
        it has resolved before, and resolving is most of its cost per request (the poller
        asks for the same OIDs every round)."""
        key = tuple(oids)
        binds = self._varbinds.get(key)
        if binds is None:
            if len(self._varbinds) >= 256:  # the links changed a lot: start again
                self._varbinds.clear()
            binds = CommandGeneratorVarBinds().make_varbinds(
                self.engine.cache, tuple(ObjectType(ObjectIdentity(o)) for o in oids)
            )
            self._varbinds[key] = binds
        return binds

    async def _transport(self) -> UdpTransportTarget | Udp6TransportTarget:
        if self._target is None:
            cls = Udp6TransportTarget if ":" in self.agent.address else UdpTransportTarget
            self._target = await cls.create(
                (self.agent.address, self.agent.port),
                timeout=self.agent.timeout_s,
                retries=self.agent.retries,
            )
        return self._target

    @staticmethod
    def _failure(indication: object) -> SnmpError:
        if isinstance(indication, errind.RequestTimedOut):
            return SnmpError(TIMEOUT, "no answer (agent down, or wrong community/user)")
        if isinstance(indication, _AUTH_ERRORS):
            return SnmpError(AUTH, str(indication))
        return SnmpError(TRANSPORT, str(indication))

    async def get(self, oids: list[str]) -> dict[str, int | str | None] | SnmpError:
        try:
            target = await self._transport()
            indication, status, index, binds = await get_cmd(
                self.engine,
                self.auth,
                target,
                ContextData(),
                *self._request(oids),
                lookupMib=False,
            )
        except OSError as e:  # no route, address family trouble: the agent is unreachable
            return SnmpError(TRANSPORT, str(e))
        if indication:
            return self._failure(indication)
        if status:
            return SnmpError(ERROR_STATUS, f"{status.prettyPrint()} at index {int(index)}")
        return {str(name): _value(val) for name, val in binds}

    async def walk(self, oid: str) -> dict[str, int | str] | SnmpError:
        out: dict[str, int | str] = {}
        try:
            target = await self._transport()
            async for indication, status, index, binds in bulk_walk_cmd(
                self.engine,
                self.auth,
                target,
                ContextData(),
                0,
                25,
                ObjectType(ObjectIdentity(oid)),
                lookupMib=False,
                lexicographicMode=False,
            ):
                if indication:
                    return self._failure(indication)
                if status:
                    return SnmpError(ERROR_STATUS, f"{status.prettyPrint()} at {int(index)}")
                for name, val in binds:
                    v = _value(val)
                    if v is not None:
                        out[str(name)] = v
        except OSError as e:
            return SnmpError(TRANSPORT, str(e))
        return out

    def close(self) -> None:
        if self._target is not None:
            self._target = None
        if self._own_engine:
            self.engine.close_dispatcher()


class PysnmpFactory:
    """Builds the clients of one poller around one shared pysnmp engine.

    One engine for every agent: its MIB builder and dispatcher are set up once, which
    cut the first round (ifName walks, v3 discovery) 4-5 times against an engine per
    agent, at the same cost per round. v3 users of the same name with different keys on
    different agents stay apart (USM keys are localized per authoritative engine).
    """

    def __init__(self) -> None:
        self.engine: SnmpEngine | None = None

    def __call__(self, agent: SnmpAgentConfig) -> PysnmpClient:
        if self.engine is None:
            self.engine = SnmpEngine()
        return PysnmpClient(agent, self.engine)

    def close(self) -> None:
        if self.engine is not None:
            self.engine.close_dispatcher()
            self.engine = None
