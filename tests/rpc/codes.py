# SPDX-License-Identifier: MIT
"""lockd's fault codes (FAULT_HELD = 1, ...) and lockcmd's exit statuses
(EXIT_HELD = 1, ...), read from lib/protocol.h, the one place they are
written, when this module is imported.  harness.py exports them too.
"""
import os
import re

PROTOCOL_H = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                          '..', '..', 'lib', 'protocol.h')

_DEFINE = re.compile(r'^#define[ \t]+(LOCKD_FAULT|LOCKCMD_EXIT)_([A-Z_]+)'
                     r'[ \t]+(\d+)\b', re.M)


def _read(path):
    """{'FAULT_HELD': 1, ..., 'EXIT_OK': 0, ...} from PATH."""
    with open(path, encoding='utf-8') as f:
        found = _DEFINE.findall(f.read())
    names = {('FAULT_' if kind == 'LOCKD_FAULT' else 'EXIT_') + name:
             int(value) for kind, name, value in found}
    if 'FAULT_HELD' not in names or 'EXIT_USAGE' not in names:
        raise RuntimeError('%s: no fault codes or exit statuses' % path)
    return names


_CODES = _read(PROTOCOL_H)
globals().update(_CODES)
__all__ = sorted(_CODES)
