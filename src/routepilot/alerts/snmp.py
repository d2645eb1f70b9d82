"""SNMP trap transport: one SNMPv2-Trap-PDU per alert (RFC 3416 section 4.2.6), v2c or
v3 authPriv, with the notifications and objects of ROUTEPILOT-MIB (docs/ROUTEPILOT-MIB.txt).

Every trap carries sysUpTime.0 and snmpTrapOID.0 (the event's NOTIFICATION-TYPE), then
the alert's key, state, severity, summary, details (JSON) and start time. Strings are
SnmpAdminString (UTF-8, at most 255 octets): longer ones are cut at a character boundary.
For v3 routepilot is the authoritative engine of its traps (RFC 3414 section 3.2): the
receiver keys the user to the configured ``engine_id``.
"""

from __future__ import annotations

import json
import time

from pysnmp.hlapi.v3arch.asyncio import (
    USM_AUTH_HMAC96_SHA,
    USM_AUTH_HMAC192_SHA256,
    USM_PRIV_CFB128_AES,
    CommunityData,
    ContextData,
    NotificationType,
    ObjectIdentity,
    ObjectType,
    SnmpEngine,
    Udp6TransportTarget,
    UdpTransportTarget,
    UsmUserData,
    send_notification,
)
from pysnmp.proto.rfc1902 import Integer32, OctetString, Unsigned32

from routepilot.alerts.dispatch import DeliveryError
from routepilot.alerts.events import EVENTS, severity_rank
from routepilot.alerts.manager import Alert
from routepilot.config.alerts import SnmpTrapConfig

ENTERPRISE = "1.3.6.1.4.1.32473"
"""RFC 5612's enterprise number for documentation, until routepilot has its own."""
MIB_ROOT = ENTERPRISE
NOTIFICATIONS = f"{MIB_ROOT}.0"
OBJECTS = f"{MIB_ROOT}.1"

# rpAlert* objects (accessible-for-notify scalars, sent as their .0 instance).
KEY, STATE, SEVERITY, SUMMARY, DETAILS, STARTED = (f"{OBJECTS}.{n}.0" for n in range(1, 7))
STATES = {"firing": 1, "resolved": 2}

_AUTH = {"SHA": USM_AUTH_HMAC96_SHA, "SHA256": USM_AUTH_HMAC192_SHA256}
_PRIV = {"AES": USM_PRIV_CFB128_AES}


def admin_string(text: str, limit: int = 255) -> OctetString:
    """UTF-8 text cut to ``limit`` octets without splitting a character."""
    data = text.encode()
    if len(data) > limit:
        data = data[:limit].decode(errors="ignore").encode()
    return OctetString(data)


def trap_oid(alert: Alert) -> str:
    return f"{NOTIFICATIONS}.{EVENTS[alert.kind].trap}"


def varbinds(alert: Alert) -> list[ObjectType]:
    details = json.dumps(dict(alert.details), separators=(",", ":"), default=str)
    return [
        ObjectType(ObjectIdentity(KEY), admin_string(alert.key)),
        ObjectType(ObjectIdentity(STATE), Integer32(STATES[alert.state])),
        ObjectType(ObjectIdentity(SEVERITY), Integer32(severity_rank(alert.severity) + 1)),
        ObjectType(ObjectIdentity(SUMMARY), admin_string(alert.summary)),
        ObjectType(ObjectIdentity(DETAILS), admin_string(details)),
        ObjectType(ObjectIdentity(STARTED), Unsigned32(int(alert.started))),
    ]


class TrapTransport:
    """Sends traps to one receiver through an SNMP engine of its own."""

    def __init__(self, config: SnmpTrapConfig) -> None:
        self.config = config
        self.engine: SnmpEngine | None = None
        self.auth: CommunityData | UsmUserData
        if config.version == "2c":
            assert config.community is not None  # the model requires it
            self.auth = CommunityData(config.community.get_secret_value(), mpModel=1)
        else:
            assert config.auth_key is not None and config.priv_key is not None
            self.auth = UsmUserData(
                config.user,
                authKey=config.auth_key.get_secret_value(),
                privKey=config.priv_key.get_secret_value(),
                authProtocol=_AUTH[config.auth_protocol],
                privProtocol=_PRIV[config.priv_protocol],
            )
        self._target: UdpTransportTarget | Udp6TransportTarget | None = None
        self._started = time.monotonic()

    async def start(self) -> None:
        c = self.config
        if c.version == "3":
            assert c.engine_id is not None
            engine_id = c.engine_id.removeprefix("0x")
            self.engine = SnmpEngine(snmpEngineID=OctetString(hexValue=engine_id))
        else:
            self.engine = SnmpEngine()

    async def _resolve(self) -> UdpTransportTarget | Udp6TransportTarget:
        if self._target is None:
            c = self.config
            kind = Udp6TransportTarget if ":" in c.host else UdpTransportTarget
            self._target = await kind.create((c.host, c.port), timeout=1, retries=0)
        return self._target

    async def send(self, alert: Alert) -> None:
        assert self.engine is not None, "start() first"
        try:
            target = await self._resolve()
        except Exception as exc:  # pysnmp raises its own error for a name it cannot resolve
            raise DeliveryError(f"snmp target {self.config.host}: {exc}", retry=True) from None
        notification = NotificationType(ObjectIdentity(trap_oid(alert))).add_varbinds(
            *varbinds(alert)
        )
        error, _, _, _ = await send_notification(
            self.engine, self.auth, target, ContextData(), "trap", notification
        )
        if error:
            raise DeliveryError(f"snmp: {error}", retry=True)

    async def close(self) -> None:
        if self.engine is not None:
            self.engine.close_dispatcher()
            self.engine = None
