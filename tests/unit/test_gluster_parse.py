"""Parsers of the Gluster 10 CLI's answers: bricks, volume info, peers and heal counts.

The samples are what ``gluster --mode=script ... --xml`` prints on Gluster 10 (trimmed of nothing that
the parsers could trip on: peer ids, ``<ports>``, ``<tasks/>``, the self-heal daemon's node are kept).
"""

from __future__ import annotations

import contextlib
from xml.sax.saxutils import escape

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hadrill.clients.gluster import (
    BrickStatus,
    VolumeInfo,
    parse_heal_counts,
    parse_peers,
    parse_volume_info,
    parse_volume_status,
)
from hadrill.errors import TargetError

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

XML_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'

VOLUME_STATUS = (
    XML_HEAD
    + """<cliOutput>
  <opRet>0</opRet>
  <opErrno>0</opErrno>
  <opErrstr/>
  <volStatus>
    <volumes>
      <volume>
        <volName>gv0</volName>
        <nodeCount>6</nodeCount>
        <node>
          <hostname>spike-gluster-1</hostname>
          <path>/bricks/b</path>
          <peerid>7a1c3f0e-3d43-4e0c-9a57-0c3a1c1b5c01</peerid>
          <status>1</status>
          <port>49152</port>
          <ports>
            <tcp>49152</tcp>
            <rdma>N/A</rdma>
          </ports>
          <pid>118</pid>
        </node>
        <node>
          <hostname>spike-gluster-2</hostname>
          <path>/bricks/b</path>
          <peerid>0f5e2b9d-6b1e-4d55-8f0b-5b8f7d2c7e02</peerid>
          <status>0</status>
          <port>N/A</port>
          <ports>
            <tcp>N/A</tcp>
            <rdma>N/A</rdma>
          </ports>
          <pid>-1</pid>
        </node>
        <node>
          <hostname>spike-gluster-3</hostname>
          <path>/bricks/b</path>
          <peerid>c2d0c6f4-94a1-4b0e-9b1c-1d6f0e9a3b03</peerid>
          <status>1</status>
          <port>49153</port>
          <ports>
            <tcp>49153</tcp>
            <rdma>N/A</rdma>
          </ports>
          <pid>97</pid>
        </node>
        <node>
          <hostname>Self-heal Daemon</hostname>
          <path>localhost</path>
          <peerid>7a1c3f0e-3d43-4e0c-9a57-0c3a1c1b5c01</peerid>
          <status>1</status>
          <port>N/A</port>
          <ports>
            <tcp>N/A</tcp>
            <rdma>N/A</rdma>
          </ports>
          <pid>135</pid>
        </node>
        <node>
          <hostname>Self-heal Daemon</hostname>
          <path>spike-gluster-3</path>
          <peerid>c2d0c6f4-94a1-4b0e-9b1c-1d6f0e9a3b03</peerid>
          <status>1</status>
          <port>N/A</port>
          <ports>
            <tcp>N/A</tcp>
            <rdma>N/A</rdma>
          </ports>
          <pid>104</pid>
        </node>
        <tasks/>
      </volume>
    </volumes>
  </volStatus>
</cliOutput>
"""
)

VOLUME_INFO = (
    XML_HEAD
    + """<cliOutput>
  <opRet>0</opRet>
  <opErrno>0</opErrno>
  <opErrstr/>
  <volInfo>
    <volumes>
      <volume>
        <name>gv0</name>
        <id>5d3f0c8e-0b7e-4a8e-8a5e-2f2b4c9e1a10</id>
        <status>1</status>
        <statusStr>Started</statusStr>
        <snapshotCount>0</snapshotCount>
        <brickCount>3</brickCount>
        <distCount>1</distCount>
        <replicaCount>3</replicaCount>
        <arbiterCount>0</arbiterCount>
        <disperseCount>0</disperseCount>
        <redundancyCount>0</redundancyCount>
        <type>2</type>
        <typeStr>Replicate</typeStr>
        <transport>0</transport>
        <bricks>
{bricks}        </bricks>
        <optCount>6</optCount>
        <options>
          <option>
            <name>cluster.server-quorum-type</name>
            <value>server</value>
          </option>
          <option>
            <name>network.ping-timeout</name>
            <value>5</value>
          </option>
          <option>
            <name>cluster.granular-entry-heal</name>
            <value>on</value>
          </option>
          <option>
            <name>storage.fips-mode-rchecksum</name>
            <value>on</value>
          </option>
          <option>
            <name>transport.address-family</name>
            <value>inet</value>
          </option>
          <option>
            <name>performance.client-io-threads</name>
            <value>off</value>
          </option>
        </options>
      </volume>
      <count>1</count>
    </volumes>
  </volInfo>
</cliOutput>
"""
).format(
    bricks="".join(
        # Gluster 10 prints each brick on one line: its name as text, then <name>, <hostUuid>, <isArbiter>.
        f'          <brick uuid="{uuid}">{name}<name>{name}</name><hostUuid>{uuid}</hostUuid>'
        "<isArbiter>0</isArbiter></brick>\n"
        for name, uuid in [
            ("spike-gluster-1:/bricks/b", "7a1c3f0e-3d43-4e0c-9a57-0c3a1c1b5c01"),
            ("spike-gluster-2:/bricks/b", "0f5e2b9d-6b1e-4d55-8f0b-5b8f7d2c7e02"),
            ("spike-gluster-3:/bricks/b", "c2d0c6f4-94a1-4b0e-9b1c-1d6f0e9a3b03"),
        ]
    )
)

POOL_LIST = (
    XML_HEAD
    + """<cliOutput>
  <opRet>0</opRet>
  <opErrno>0</opErrno>
  <opErrstr/>
  <peerStatus>
    <peer>
      <uuid>0f5e2b9d-6b1e-4d55-8f0b-5b8f7d2c7e02</uuid>
      <hostname>spike-gluster-2</hostname>
      <hostnames>
        <hostname>spike-gluster-2</hostname>
      </hostnames>
      <connected>1</connected>
      <state>3</state>
      <stateStr>Peer in Cluster</stateStr>
    </peer>
    <peer>
      <uuid>c2d0c6f4-94a1-4b0e-9b1c-1d6f0e9a3b03</uuid>
      <hostname>spike-gluster-3</hostname>
      <hostnames>
        <hostname>spike-gluster-3</hostname>
        <hostname>172.30.0.13</hostname>
      </hostnames>
      <connected>0</connected>
      <state>3</state>
      <stateStr>Peer in Cluster</stateStr>
    </peer>
    <peer>
      <uuid>7a1c3f0e-3d43-4e0c-9a57-0c3a1c1b5c01</uuid>
      <hostname>localhost</hostname>
      <connected>1</connected>
      <state>3</state>
      <stateStr>Peer in Cluster</stateStr>
    </peer>
  </peerStatus>
</cliOutput>
"""
)

HEAL_COUNT = """Gathering count of entries to be healed on volume gv0 has been successful

Brick spike-gluster-1:/bricks/b
Number of entries: 0

Brick spike-gluster-2:/bricks/b
Number of entries: 17

Brick spike-gluster-3:/bricks/b
Number of entries: -
"""

HEAL_COUNT_BRICK_DOWN = (
    (
        "Gathering count of entries to be healed on volume gv0 has been unsuccessful on bricks that are down. "
        "Please check if all brick processes are running."
    )
    + """

Brick spike-gluster-1:/bricks/b
Number of entries: 4

Brick spike-gluster-2:/bricks/b
Status: Transport endpoint is not connected
Number of entries: -

Brick spike-gluster-3:/bricks/b
Number of entries: 4
"""
)


def _error_xml(ret: int, errno: int, message: str) -> str:
    return (
        f"{XML_HEAD}<cliOutput>\n  <opRet>{ret}</opRet>\n  <opErrno>{errno}</opErrno>\n"
        f"  <opErrstr>{escape(message)}</opErrstr>\n</cliOutput>\n"
    )


# --- volume status -------------------------------------------------------------------------------


def test_volume_status_bricks_only_daemons_left_out() -> None:
    bricks = parse_volume_status(VOLUME_STATUS)
    assert list(bricks) == ["spike-gluster-1:/bricks/b", "spike-gluster-2:/bricks/b", "spike-gluster-3:/bricks/b"]
    assert bricks["spike-gluster-1:/bricks/b"] == BrickStatus("spike-gluster-1", "/bricks/b", True, 118, 49152)
    assert bricks["spike-gluster-3:/bricks/b"] == BrickStatus("spike-gluster-3", "/bricks/b", True, 97, 49153)
    assert all(b.name == key for key, b in bricks.items())


def test_volume_status_offline_brick_has_no_pid_or_port() -> None:
    down = parse_volume_status(VOLUME_STATUS)["spike-gluster-2:/bricks/b"]
    assert down == BrickStatus("spike-gluster-2", "/bricks/b", online=False, pid=None, port=None)


def test_volume_status_one_brick_with_leading_noise() -> None:
    """``volume status VOL HOST:PATH --xml`` names one brick; a warning before the XML is ignored."""
    first_node_end = VOLUME_STATUS.index("</node>") + len("</node>")
    one = VOLUME_STATUS[:first_node_end] + VOLUME_STATUS[VOLUME_STATUS.index("\n        <tasks/>") :]
    noisy = "Warning: the glusterd on spike-gluster-2 is not reachable\n" + one
    assert list(parse_volume_status(noisy)) == ["spike-gluster-1:/bricks/b"]


def test_volume_status_missing_fields() -> None:
    text = (
        "<cliOutput><opRet>0</opRet><volStatus><volumes><volume>"
        "<node><hostname>n1</hostname><path>/bricks/b</path></node>"  # no status, pid, port
        "<node><path>/bricks/c</path><status>1</status><pid>abc</pid><port></port></node>"  # no hostname
        "<node><hostname>n3</hostname><status>1</status></node>"  # no path: not a brick
        "</volume></volumes></volStatus></cliOutput>"
    )
    assert parse_volume_status(text) == {
        "n1:/bricks/b": BrickStatus("n1", "/bricks/b", online=False),
        ":/bricks/c": BrickStatus("", "/bricks/c", online=True),
    }


def test_volume_status_no_bricks_is_empty() -> None:
    text = "<cliOutput><opRet>0</opRet><opErrno>0</opErrno><opErrstr/><volStatus><volumes/></volStatus></cliOutput>"
    assert parse_volume_status(text) == {}


def test_volume_status_of_stopped_volume_is_an_error() -> None:
    with pytest.raises(TargetError, match="Volume gv0 is not started"):
        parse_volume_status(_error_xml(-1, 30800, "Volume gv0 is not started"))


def test_error_without_message_still_says_failed() -> None:
    with pytest.raises(TargetError, match="gluster: failed"):
        parse_volume_status("<cliOutput><opRet>-1</opRet><opErrno>0</opErrno><opErrstr/></cliOutput>")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   \n",
        "Connection failed. Please check if gluster daemon is operational.\n",
        "Error : Request timed out\n",
        "<cliOutput><opRet>0</opRet><volStatus>",  # cut short
        "<<<>>>",
    ],
)
def test_no_xml_is_a_target_error(text: str) -> None:
    for parse in (parse_volume_status, parse_volume_info, parse_peers):
        with pytest.raises(TargetError):
            parse(text)


# --- volume info ---------------------------------------------------------------------------------


def test_volume_info() -> None:
    info = parse_volume_info(VOLUME_INFO)
    assert info.name == "gv0"
    assert info.status == "Started"
    assert info.bricks == ("spike-gluster-1:/bricks/b", "spike-gluster-2:/bricks/b", "spike-gluster-3:/bricks/b")
    assert info.options["network.ping-timeout"] == "5"
    assert info.options["cluster.server-quorum-type"] == "server"
    assert len(info.options) == 6


def test_volume_info_stopped_without_options() -> None:
    text = VOLUME_INFO.replace("<statusStr>Started</statusStr>", "<statusStr>Stopped</statusStr>")
    start, end = text.index("<options>"), text.index("</options>") + len("</options>")
    text = text[:start] + "<options/>" + text[end:]
    assert parse_volume_info(text) == VolumeInfo("gv0", "Stopped", parse_volume_info(VOLUME_INFO).bricks, {})


def test_volume_info_missing_volume_is_an_error() -> None:
    with pytest.raises(TargetError, match="no volume"):
        parse_volume_info("<cliOutput><opRet>0</opRet><opErrno>0</opErrno><opErrstr/><volInfo/></cliOutput>")


def test_volume_info_of_unknown_volume_is_an_error() -> None:
    with pytest.raises(TargetError, match="Volume nope does not exist"):
        parse_volume_info(_error_xml(-1, 30806, "Volume nope does not exist"))


# --- peers ---------------------------------------------------------------------------------------


def test_pool_list_every_name_of_every_peer() -> None:
    assert parse_peers(POOL_LIST) == {
        "spike-gluster-2": True,
        "spike-gluster-3": False,
        "172.30.0.13": False,
        "localhost": True,
    }


def test_peer_without_connected_field_is_not_connected() -> None:
    text = "<cliOutput><opRet>0</opRet><peerStatus><peer><hostname>n2</hostname></peer></peerStatus></cliOutput>"
    assert parse_peers(text) == {"n2": False}


def test_peer_without_names_is_left_out() -> None:
    text = "<cliOutput><opRet>0</opRet><peerStatus><peer><connected>1</connected></peer></peerStatus></cliOutput>"
    assert parse_peers(text) == {}


def test_no_peers() -> None:
    assert parse_peers("<cliOutput><opRet>0</opRet><peerStatus/></cliOutput>") == {}


def test_pool_list_error() -> None:
    with pytest.raises(TargetError, match="glusterd not running"):
        parse_peers(_error_xml(-1, 0, "glusterd not running"))


# --- heal counts ---------------------------------------------------------------------------------


def test_heal_counts() -> None:
    assert parse_heal_counts(HEAL_COUNT) == {
        "spike-gluster-1:/bricks/b": 0,
        "spike-gluster-2:/bricks/b": 17,
        "spike-gluster-3:/bricks/b": None,
    }


def test_heal_counts_brick_down_with_status_line() -> None:
    assert parse_heal_counts(HEAL_COUNT_BRICK_DOWN) == {
        "spike-gluster-1:/bricks/b": 4,
        "spike-gluster-2:/bricks/b": None,
        "spike-gluster-3:/bricks/b": 4,
    }


def test_heal_counts_crlf_and_trailing_spaces() -> None:
    text = HEAL_COUNT.replace("\n", "  \r\n")
    assert parse_heal_counts(text) == parse_heal_counts(HEAL_COUNT)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "\n\n",
        "Volume gv0 does not exist\nVolume heal failed.\n",
        "Number of entries: 3\n",  # no brick before it
        "Brick n1:/bricks/b\n",  # brick named, no count
    ],
)
def test_heal_counts_nothing_usable_is_empty(text: str) -> None:
    assert parse_heal_counts(text) == {}


def test_heal_count_without_count_line_is_not_given_the_next_bricks() -> None:
    text = "Brick a:/b\nStatus: Transport endpoint is not connected\n\nBrick c:/b\nNumber of entries: 2\n"
    assert parse_heal_counts(text) == {"c:/b": 2}


@pytest.mark.parametrize("value", ["N/A", "12abc", "-1", "3.5"])
def test_heal_count_not_a_count_means_unknown(value: str) -> None:
    assert parse_heal_counts(f"Brick a:/b\nNumber of entries: {value}\n") == {"a:/b": None}


@pytest.mark.parametrize("value", ["\u00b2", "\u0663", "1" * 5000])
def test_heal_count_odd_digits_do_not_raise(value: str) -> None:
    assert parse_heal_counts(f"Brick a:/b\nNumber of entries: {value}\n") == {"a:/b": None}


def test_lone_surrogate_is_a_target_error() -> None:
    with pytest.raises(TargetError):
        parse_volume_status("<cliOutput>\ud800</cliOutput>")


# --- properties ----------------------------------------------------------------------------------

_LOWER = "abcdefghijklmnopqrstuvwxyz"
_HOST = st.builds("{}{}".format, st.sampled_from(_LOWER), st.text(_LOWER + "0123456789-.", max_size=10))
_IP = st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: ".".join(map(str, t)))
_PATH = st.lists(st.text(_LOWER + "ABCXYZ0123456789_.-", min_size=1, max_size=8), min_size=1, max_size=3).map(
    lambda parts: "/" + "/".join(parts)
)


@st.composite
def _bricks(draw: st.DrawFn) -> list[BrickStatus]:
    names = draw(st.lists(st.tuples(_HOST, _PATH), min_size=0, max_size=6, unique=True))
    out = []
    for host, path in names:
        online = draw(st.booleans())
        pid = draw(st.integers(1, 4_194_304)) if online else None
        port = draw(st.integers(49152, 60999)) if online else None
        out.append(BrickStatus(host, path, online, pid, port))
    return out


def _status_xml(bricks: list[BrickStatus], daemons: int) -> str:
    nodes = []
    for b in bricks:
        port = str(b.port) if b.port else "N/A"
        nodes.append(
            f"<node><hostname>{escape(b.host)}</hostname><path>{escape(b.path)}</path>"
            f"<peerid>x</peerid><status>{int(b.online)}</status><port>{port}</port>"
            f"<ports><tcp>{port}</tcp><rdma>N/A</rdma></ports><pid>{b.pid or -1}</pid></node>"
        )
    for i in range(daemons):
        nodes.append(
            f"<node><hostname>Self-heal Daemon</hostname><path>{'localhost' if i == 0 else f'node{i}'}</path>"
            "<status>1</status><port>N/A</port><pid>77</pid></node>"
        )
    return (
        f"{XML_HEAD}<cliOutput><opRet>0</opRet><opErrno>0</opErrno><opErrstr/><volStatus><volumes><volume>"
        f"<volName>gv0</volName><nodeCount>{len(nodes)}</nodeCount>{''.join(nodes)}<tasks/>"
        "</volume></volumes></volStatus></cliOutput>"
    )


@FUZZ
@given(bricks=_bricks(), daemons=st.integers(0, 3))
def test_volume_status_round_trip(bricks: list[BrickStatus], daemons: int) -> None:
    assert parse_volume_status(_status_xml(bricks, daemons)) == {b.name: b for b in bricks}


@FUZZ
@given(
    name=st.text(_LOWER + "ABCXYZ0123456789_-", min_size=1, max_size=20),
    status=st.sampled_from(["Created", "Started", "Stopped"]),
    bricks=st.lists(st.tuples(_HOST, _PATH).map(":".join), max_size=8),
    options=st.dictionaries(st.text(_LOWER + ".-", min_size=1, max_size=20), st.text(max_size=20), max_size=6),
)
def test_volume_info_round_trip(name: str, status: str, bricks: list[str], options: dict[str, str]) -> None:
    brick_xml = "".join(
        f'<brick uuid="u">{escape(b)}<name>{escape(b)}</name><isArbiter>0</isArbiter></brick>' for b in bricks
    )
    # XML turns a lone CR into LF and drops characters it cannot hold; compare what XML can carry.
    options = {k: v for k, v in options.items() if v.isprintable()}
    option_xml = "".join(f"<option><name>{k}</name><value>{escape(v)}</value></option>" for k, v in options.items())
    text = (
        f"{XML_HEAD}<cliOutput><opRet>0</opRet><opErrno>0</opErrno><opErrstr/><volInfo><volumes><volume>"
        f"<name>{name}</name><status>1</status><statusStr>{status}</statusStr><bricks>{brick_xml}</bricks>"
        f"<optCount>{len(options)}</optCount><options>{option_xml}</options></volume><count>1</count>"
        "</volumes></volInfo></cliOutput>"
    )
    assert parse_volume_info(text) == VolumeInfo(name, status, tuple(bricks), options)


@st.composite
def _peers(draw: st.DrawFn) -> list[tuple[list[str], bool]]:
    names = draw(st.lists(st.one_of(_HOST, _IP), max_size=9, unique=True))
    peers = []
    while names:
        take = draw(st.integers(1, min(3, len(names))))
        peers.append((names[:take], draw(st.booleans())))
        names = names[take:]
    return peers


@FUZZ
@given(peers=_peers())
def test_pool_list_round_trip(peers: list[tuple[list[str], bool]]) -> None:
    body = "".join(
        f"<peer><uuid>u{i}</uuid><hostname>{names[0]}</hostname><hostnames>"
        + "".join(f"<hostname>{n}</hostname>" for n in names)
        + f"</hostnames><connected>{int(up)}</connected><state>3</state><stateStr>Peer in Cluster</stateStr></peer>"
        for i, (names, up) in enumerate(peers)
    )
    text = f"{XML_HEAD}<cliOutput><opRet>0</opRet><opErrno>0</opErrno><opErrstr/><peerStatus>{body}</peerStatus>"
    text += "</cliOutput>"
    assert parse_peers(text) == {n: up for names, up in peers for n in names}


@FUZZ
@given(
    counts=st.dictionaries(
        st.tuples(_HOST, _PATH).map(":".join), st.one_of(st.none(), st.integers(0, 10**9)), max_size=8
    ),
    header=st.booleans(),
)
def test_heal_counts_round_trip(counts: dict[str, int | None], header: bool) -> None:
    parts = ["Gathering count of entries to be healed on volume gv0 has been successful\n"] if header else []
    for brick, n in counts.items():
        status = "Status: Transport endpoint is not connected\n" if n is None else ""
        parts.append(f"Brick {brick}\n{status}Number of entries: {'-' if n is None else n}\n")
    assert parse_heal_counts("\n".join(parts)) == counts


_PRINTABLE_ASCII = st.characters(min_codepoint=0x21, max_codepoint=0x7E)


@FUZZ
@given(
    lines=st.lists(
        st.one_of(
            st.text(max_size=40),
            st.builds("Brick {}".format, st.text(_PRINTABLE_ASCII, min_size=1, max_size=20)),
            st.builds(
                "Number of entries: {}".format,
                st.one_of(st.sampled_from(["-", "0", "42", "N/A", ""]), st.text(_PRINTABLE_ASCII, max_size=12)),
            ),
        ),
        max_size=12,
    )
)
def test_heal_counts_never_raise_and_counts_are_neutral(lines: list[str]) -> None:
    counts = parse_heal_counts("\n".join(lines))
    assert all(n is None or (isinstance(n, int) and n >= 0) for n in counts.values())
    assert all(name and not any(c.isspace() for c in name) for name in counts)


@FUZZ
@given(text=st.one_of(st.text(), st.binary().map(lambda b: b.decode("utf-8", errors="replace"))))
def test_arbitrary_text_is_a_result_or_a_target_error(text: str) -> None:
    for parse in (parse_volume_status, parse_peers, parse_volume_info):
        with contextlib.suppress(TargetError):
            parse(text)
    assert isinstance(parse_heal_counts(text), dict)


_TAGS = [
    "cliOutput",
    "opRet",
    "opErrstr",
    "volStatus",
    "volInfo",
    "volumes",
    "volume",
    "node",
    "hostname",
    "path",
    "status",
    "pid",
    "port",
    "name",
    "statusStr",
    "brick",
    "option",
    "value",
    "peer",
    "hostnames",
    "connected",
]


@st.composite
def _xmlish(draw: st.DrawFn, depth: int = 0) -> str:
    tag = draw(st.sampled_from(_TAGS))
    if depth >= 2 or draw(st.booleans()):
        inner = escape(draw(st.one_of(st.sampled_from(["0", "1", "-1", "N/A", "/bricks/b", "x"]), st.text(max_size=8))))
    else:
        inner = "".join(draw(st.lists(_xmlish(depth + 1), max_size=3)))
    return f"<{tag}>{inner}</{tag}>"


@FUZZ
@given(body=st.lists(_xmlish(), max_size=4), ret=st.sampled_from(["0", "-1", "", "x"]))
def test_gluster_like_xml_is_a_result_or_a_target_error(body: list[str], ret: str) -> None:
    text = f"<cliOutput><opRet>{ret}</opRet>{''.join(body)}</cliOutput>"
    try:
        bricks = parse_volume_status(text)
        assert all(b.name == k and b.path.startswith("/") for k, b in bricks.items())
        assert all(b.pid is None or b.pid > 0 for b in bricks.values())
    except TargetError:
        pass
    with contextlib.suppress(TargetError):
        assert all(isinstance(up, bool) and name for name, up in parse_peers(text).items())
    with contextlib.suppress(TargetError):
        assert isinstance(parse_volume_info(text), VolumeInfo)
