"""nfsmount.conf and /proc/mounts against an NFS mount policy: parsing, the preset, the comparison."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hadrill.compliance.nfs_mounts import (
    PRESETS,
    _compare,
    _normalise,
    _Subject,
    effective_options,
    parse_mounts,
    parse_nfsmount_conf,
)
from hadrill.compliance.policy import NfsMountPolicy
from hadrill.compliance.registry import CHECKS
from hadrill.errors import ConfigError

CONF = """\
#
# /etc/nfsmount.conf - see nfsmount.conf(5)
#
[ NFSMount_Global_Options ]
Defaultvers=3
Proto = udp
Hard=True
Timeo=11
Retrans=3
Rsize=32768
Wsize=32768 ; a comment ends an unquoted value, as in nfs-utils
[ Server "nfs.storage.lab" ]
rsize=65536
[ MountPoint "/data with space" ]
background=True
"""

_V3_OPTS = (
    "rw,relatime,vers=3,rsize=32768,wsize=32768,namlen=255,hard,proto=udp,timeo=11,retrans=3,sec=sys,"
    "mountaddr=10.0.0.20,mountvers=3,mountport=20048,mountproto=udp,local_lock=none,addr=10.0.0.20"
)
_V4_OPTS = (
    "rw,relatime,vers=4.2,rsize=1048576,wsize=1048576,namlen=255,soft,proto=tcp,timeo=600,retrans=2,sec=sys,"
    "clientaddr=10.0.0.29,local_lock=none,addr=10.0.0.21"
)
MOUNTS = (
    "sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0\n"
    f"10.0.0.20:/export /mnt/data nfs {_V3_OPTS} 0 0\n"
    f"10.0.0.21:/export /mnt/v4\\040dir nfs4 {_V4_OPTS} 0 0\n"
)


def test_sections_keys_and_quoted_arguments() -> None:
    conf = parse_nfsmount_conf(CONF)
    assert conf.global_options["defaultvers"] == "3"
    assert conf.global_options["proto"] == "udp"
    assert conf.sections[("server", "nfs.storage.lab")] == {"rsize": "65536"}
    assert conf.sections[("mountpoint", "/data with space")] == {"background": "True"}
    assert conf.global_options["wsize"] == "32768"


def test_quotes_comments_and_the_unterminated_last_line_follow_nfs_utils() -> None:
    conf = parse_nfsmount_conf(
        "[NFSMount_Global_Options] anything after ] is ignored\n"
        "A = \"x # not a comment\" trailing\nB='y;z'\nC = 1 # comment\nD=2;comment\nE=3"
    )
    assert conf.global_options == {"a": "x # not a comment", "b": "y;z", "c": "1", "d": "2"}


def test_continuation_lines_join() -> None:
    conf = parse_nfsmount_conf("[ NFSMount_Global_Options ]\nProto=\\\nudp\n")
    assert conf.global_options == {"proto": "udp"}  # the backslash and the newline become spaces, then trimmed


@pytest.mark.parametrize(
    ("text", "line", "expected"),
    [
        ("Proto=udp\n", 1, "[ Section ] header before"),
        ("[ NFSMount_Global_Options \nProto=udp\n", 1, "closed by ']'"),
        ('# ok\n[ Server "nfs.example ]\n', 2, 'closing " for the section'),
        ("[ NFSMount_Global_Options ]\n\njust words\n", 3, "Key=Value"),
        ("[ NFSMount_Global_Options ]\n=udp\n", 2, "a key before"),
        ('[ NFSMount_Global_Options ]\nProto="udp\n', 2, 'closing " for the quoted value'),
        ("[ ]\n", 1, "section name"),
    ],
)
def test_mistakes_name_the_file_and_the_line(text: str, line: int, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_nfsmount_conf(text, "/etc/nfsmount.conf")
    assert (info.value.file, info.value.field) == ("/etc/nfsmount.conf", f"line {line}")
    assert expected in str(info.value)


_PIECES = st.sampled_from(["[", "]", '"', "=", "#", ";", "\\", "\n", " ", "NFSMount_Global_Options", "Proto", "udp"])


@given(st.one_of(st.text(max_size=300), st.lists(_PIECES, max_size=60).map("".join)))
def test_any_text_parses_or_fails_naming_file_and_line(text: str) -> None:
    try:
        conf = parse_nfsmount_conf(text, "fuzz.conf")
    except ConfigError as e:
        assert e.file == "fuzz.conf"
        m = re.fullmatch(r"line (\d+)", e.field)
        assert m and 1 <= int(m.group(1)) <= text.count("\n") + 1, e.field
        return
    _normalise(conf.global_options)  # whatever parsed can be compared


def test_live_mounts_are_read_with_their_options() -> None:
    mounts = parse_mounts(MOUNTS)
    assert [(m[1], m[2]) for m in mounts] == [("/mnt/data", "nfs"), ("/mnt/v4 dir", "nfs4")]
    v3, v4 = mounts[0][3], mounts[1][3]
    assert (v3["vers"], v3["proto"], v3["hard"], v3["rsize"], v3["timeo"]) == (3, "udp", True, 32768, 11)
    assert (v4["vers"], v4["hard"]) == ("4.2", False)


def test_the_jumbo_preset_and_policy_overrides() -> None:
    assert effective_options(NfsMountPolicy(options={})) == {}
    assert effective_options(NfsMountPolicy(preset="vers3-udp-jumbo", options={})) == PRESETS["vers3-udp-jumbo"]
    merged = effective_options(NfsMountPolicy(preset="vers3-udp-jumbo", options={"Timeo": 14, "nfsvers": "3"}))
    assert merged["timeo"] == 14 and merged["vers"] == "3" and merged["proto"] == "udp"


def test_a_v3_udp_mount_meets_the_preset_and_a_v4_soft_mount_does_not() -> None:
    required = effective_options(NfsMountPolicy(preset="vers3-udp-jumbo", options={}))
    (_, _, _, v3), (_, _, _, v4) = parse_mounts(MOUNTS)
    assert _compare(required, v3, defaults=False) == {}
    wrong = _compare(required, v4, defaults=False)
    assert wrong == {"vers": "4.2", "proto": "tcp", "hard": False, "rsize": 1048576, "wsize": 1048576, "timeo": 600,
                     "retrans": 2}  # fmt: skip
    f = CHECKS["HD-NFS-002"].evaluate("client", _Subject("nfs4 mount", required, wrong, "/mnt/v4"))[0]
    assert f.status == "fail" and f.object == "/mnt/v4" and "vers=4.2" in f.message


def test_version_4_policy_accepts_minor_versions() -> None:
    (_, _, _, v4) = parse_mounts(MOUNTS)[1]
    assert _compare({"vers": "4", "proto": "tcp"}, v4, defaults=False) == {}
    assert _compare({"vers": "4.1"}, v4, defaults=False) == {"vers": "4.2"}


def test_config_comparison_counts_kernel_defaults_only_for_hard() -> None:
    conf = parse_nfsmount_conf("[ NFSMount_Global_Options ]\nDefaultvers=3\n")
    have = _normalise(conf.global_options)
    assert _compare({"hard": True, "vers": "3"}, have, defaults=True) == {}
    assert _compare({"proto": "udp"}, have, defaults=True) == {"proto": "unset"}
    assert _compare({"hard": True}, _normalise({"soft": "True"}), defaults=True) == {"hard": False}
    assert _compare({"hard": True}, _normalise({"hard": "False"}), defaults=True) == {"hard": False}


def test_the_full_example_file_meets_the_preset() -> None:
    conf = parse_nfsmount_conf(CONF)
    required = effective_options(NfsMountPolicy(preset="vers3-udp-jumbo", options={}))
    wrong = _compare(required, _normalise(conf.global_options), defaults=True)
    assert wrong == {}
