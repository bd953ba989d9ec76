#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The pod the DaemonSet runs on each node, as `podman kube play` takes it.

  kube-pod.py DEPLOY_DIR NAME FILES_DIR [--image IMAGE]
              [--dropin NAME.conf=FILE]... [--host-path NODE_PATH=PATH]...
              [--containers-conf FILE]

Reads DEPLOY_DIR's ConfigMap and DaemonSet (as kustomization.yaml lists
them) and prints the ConfigMaps and a Pod named NAME with the DaemonSet's pod
template, unchanged but for what the options replace: the image, a hostPath
volume's path (a test's own directory for the node's /run/kareaper), and the
drop-in ConfigMap (kareaper.d) made of the --dropin files.

What podman 4.3 lacks is done its way, in FILES_DIR. It plays Pods, not
DaemonSets. A ConfigMap key mounted as one file (subPath) is written there
and mounted as a hostPath file, with the same content at the same place. It
ignores hostPID (4.5 reads it): FILES_DIR/containers.conf is the
--containers-conf FILE with, for hostPID, the host's PID namespace as every
container's default (pidns = "host"), to play the pod with. And it would
publish each containerPort on the host (Kubernetes does not): the ports go,
and the liveness probe names its port by number."""
import argparse
import os
import sys

import yaml

ap = argparse.ArgumentParser()
ap.add_argument('deploy')
ap.add_argument('name')
ap.add_argument('files')
ap.add_argument('--image')
ap.add_argument('--dropin', action='append', default=[])
ap.add_argument('--containers-conf')
ap.add_argument('--host-path', action='append', default=[])
a = ap.parse_args()

docs = []
with open(os.path.join(a.deploy, 'kustomization.yaml')) as f:
    for res in yaml.safe_load(f)['resources']:
        with open(os.path.join(a.deploy, res)) as r:
            docs += [d for d in yaml.safe_load_all(r) if d]
by_kind = {}
for d in docs:
    by_kind.setdefault(d['kind'], []).append(d)
(cm,) = by_kind['ConfigMap']
(ds,) = by_kind['DaemonSet']
maps = {cm['metadata']['name']: cm}
if a.dropin:
    dropins = {'apiVersion': 'v1', 'kind': 'ConfigMap',
               'metadata': {'name': 'kareaper.d', 'namespace': cm['metadata']['namespace']},
               'data': {}}
    for d in a.dropin:
        key, path = d.split('=', 1)
        with open(path) as f:
            dropins['data'][key] = f.read()
    maps['kareaper.d'] = dropins

tmpl = ds['spec']['template']
spec = tmpl['spec']
volumes = {v['name']: v for v in spec.get('volumes', [])}
paths = dict(p.split('=', 1) for p in a.host_path)
for v in volumes.values():
    hp = v.get('hostPath')
    if hp and hp['path'] in paths:
        hp['path'] = paths.pop(hp['path'])
if paths:
    sys.exit(f'no hostPath volume for {", ".join(paths)}')
for c in spec['containers']:
    if a.image:
        c['image'] = a.image
    ports = {p['name']: p['containerPort'] for p in c.pop('ports', []) if 'name' in p}
    for probe in ('livenessProbe', 'readinessProbe', 'startupProbe'):
        get = c.get(probe, {}).get('httpGet')
        if get and get['port'] in ports:
            get['port'] = ports[get['port']]
    for m in c.get('volumeMounts', []):
        v = volumes[m['name']]
        if 'subPath' not in m or 'configMap' not in v:
            continue
        key = m.pop('subPath')
        path = os.path.join(a.files, f"{m['name']}-{key}")
        with open(path, 'w') as f:
            f.write(maps[v['configMap']['name']]['data'][key])
        name = f"{m['name']}-{key}".replace('.', '-')
        spec['volumes'].append({'name': name, 'hostPath': {'path': path, 'type': 'File'}})
        m['name'] = name

if a.containers_conf:
    with open(a.containers_conf) as f:
        conf = f.read()
    if spec.get('hostPID'):
        assert '[containers]\n' in conf, 'no [containers] table in ' + a.containers_conf
        conf = conf.replace('[containers]\n', '[containers]\npidns = "host"\n', 1)
    with open(os.path.join(a.files, 'containers.conf'), 'w') as f:
        f.write(conf)

pod = {
    'apiVersion': 'v1',
    'kind': 'Pod',
    'metadata': {
        'name': a.name,
        'labels': tmpl['metadata'].get('labels', {}),
        'annotations': tmpl['metadata'].get('annotations', {}),
    },
    'spec': spec,
}
yaml.safe_dump_all([*maps.values(), pod], sys.stdout, sort_keys=False)
