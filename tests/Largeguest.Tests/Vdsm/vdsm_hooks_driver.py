"""Runs one hook point through VDSM's real hook runner, for the test suite (Vdsm/RealVdsmHooks.cs).

VDSM's hooks.py (lib/vdsm/common/hooks.py of the VDSM sources in ../shared/third_party, see its
README) is imported unmodified. It imports three VDSM modules that are not in that copy; this driver
provides minimal stand-ins for them, and for the vdsm.hook package file the copy lacks:

- vdsm.common.commands: start() spawns the hook (a bare Popen: VDSM's own start() also wraps the
  command, e.g. to reset the CPU affinity, which does not matter here) and terminating() kills a
  process still running when the block ends;
- vdsm.common.exception: HookError, a plain Exception;
- vdsm.common.constants: P_VDSM_HOOKS and P_VDSM_RUN, the test's temporary directories;
- vdsm.hook: VDSM ships lib/vdsm/hook/__init__.py beside hooking.py; hooks.py asks
  pkgutil.get_loader('vdsm.hook') for its file name to put that directory on the hooks' PYTHONPATH.

Usage: /usr/bin/python3 -I vdsm_hooks_driver.py REQUEST.json  (prints one JSON object on stdout)

Request: vdsm_lib (the lib/ folder holding vdsm/common/hooks.py), hooks_root (P_VDSM_HOOKS), run_root
(P_VDSM_RUN), hook_point, domxml (text), vmconf ({'vmId': ..., 'custom': {...}}, as vm.py passes
self._custom), params (before_vm_dehibernate's third argument), final_callback (before_vm_start:
pass a callback as vm.py's fresh-start flow does).
Result: hooks_file, xml (what the hook function returned; null when it raised), hook_error (null or
{'text': the HookError argument decoded, 'type': its Python type}), callback_xml (what the callback
received; null when not called), log (every log record as 'LEVEL message'), scripts (from hooks.py's
'%s: rc=%s err=%s' records: script, rc, stderr decoded).
"""

import contextlib
import importlib.machinery
import json
import logging
import os
import subprocess
import sys
import types


def _install_stand_ins(vdsm_lib, hooks_root, run_root):
    commands = types.ModuleType('vdsm.common.commands')

    def start(args, stdout=None, stderr=None, env=None):
        return subprocess.Popen(args, stdout=stdout, stderr=stderr, env=env, close_fds=True)

    @contextlib.contextmanager
    def terminating(proc):
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    commands.start = start
    commands.terminating = terminating

    exception = types.ModuleType('vdsm.common.exception')

    class HookError(Exception):
        pass

    exception.HookError = HookError

    constants = types.ModuleType('vdsm.common.constants')
    constants.P_VDSM_HOOKS = os.path.join(hooks_root, '')
    constants.P_VDSM_RUN = os.path.join(run_root, '')

    hook = types.ModuleType('vdsm.hook')
    hook_init = os.path.join(vdsm_lib, 'vdsm', 'hook', '__init__.py')
    hook.__loader__ = importlib.machinery.SourceFileLoader('vdsm.hook', hook_init)
    hook.__path__ = [os.path.dirname(hook_init)]

    for module in (commands, exception, constants, hook):
        sys.modules[module.__name__] = module
    return HookError


class _Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records = []

    def emit(self, record):
        self.records.append(record)


def _text(value):
    return value.decode('utf-8', 'replace') if isinstance(value, bytes) else str(value)


def main(request_path):
    with open(request_path, encoding='utf-8') as f:
        request = json.load(f)
    vdsm_lib = request['vdsm_lib']
    hooks_py = os.path.join(vdsm_lib, 'vdsm', 'common', 'hooks.py')
    if not os.path.isfile(hooks_py):
        sys.exit(f'vdsm_hooks_driver: {hooks_py} not found: '
                 'the test passes the VDSM sources it found (LARGEGUEST_THIRD_PARTY)')
    sys.path.insert(0, vdsm_lib)
    HookError = _install_stand_ins(vdsm_lib, request['hooks_root'], request['run_root'])
    from vdsm.common import hooks

    records = _Records()
    logging.getLogger().addHandler(records)
    logging.getLogger().setLevel(logging.DEBUG)

    domxml, vmconf, params = request['domxml'], request['vmconf'], request.get('params') or {}
    callback = []
    points = {
        'before_vm_start': lambda: hooks.before_vm_start(domxml, vmconf, final_callback=callback.append)
        if request.get('final_callback') else hooks.before_vm_start(domxml, vmconf),
        'before_vm_migrate_destination': lambda: hooks.before_vm_migrate_destination(domxml, vmconf),
        'before_vm_dehibernate': lambda: hooks.before_vm_dehibernate(domxml, vmconf, params),
        'after_vm_destroy': lambda: hooks.after_vm_destroy(domxml, vmconf),
    }
    xml, error = None, None
    try:
        xml = points[request['hook_point']]()
    except HookError as e:
        arg = e.args[0] if e.args else None
        error = {'text': _text(arg), 'type': type(arg).__name__}

    scripts = [
        {'script': r.args[0], 'rc': r.args[1], 'stderr': _text(r.args[2])}
        for r in records.records
        if r.msg == '%s: rc=%s err=%s'
    ]
    json.dump({
        'hooks_file': hooks.__file__,
        'xml': xml,
        'hook_error': error,
        'callback_xml': callback[0] if callback else None,
        'log': [f'{r.levelname} {r.getMessage()}' for r in records.records],
        'scripts': scripts,
    }, sys.stdout)


if __name__ == '__main__':
    main(sys.argv[1])
