// An agent for the tests: the real @elastic/opamp-client-node (HTTP transport, remote config) polling the
// gateway's POST /v1/opamp. It reports each remote config it gets as a JSON line on stdout and acknowledges
// it APPLIED, or FAILED with a message (OPAMP_MODE=fail). Stops on SIGTERM or when stdin closes.
//
// Environment: OPAMP_ENDPOINT (http://127.0.0.1:PORT/v1/opamp), OPAMP_KEY, OPAMP_UID (UUID), OPAMP_SERVICE,
// OPAMP_HEARTBEAT_SECONDS (default 1), OPAMP_MODE (apply | fail), OPAMP_FAIL_MESSAGE.
'use strict';

const {
    createOpAMPClient,
    AgentCapabilities,
    RemoteConfigStatuses,
    DIAG_CH_SEND_SUCCESS,
    DIAG_CH_SEND_FAIL,
} = require('@elastic/opamp-client-node');
const {subscribe} = require('node:diagnostics_channel');

const env = process.env;
const mode = env.OPAMP_MODE || 'apply';
const print = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const hex = (bytes) => Buffer.from(bytes).toString('hex');

const client = createOpAMPClient({
    endpoint: env.OPAMP_ENDPOINT,
    headers: {Authorization: 'Bearer ' + env.OPAMP_KEY},
    instanceUid: env.OPAMP_UID,
    heartbeatIntervalSeconds: Number(env.OPAMP_HEARTBEAT_SECONDS || '1'),
    capabilities:
        AgentCapabilities.AgentCapabilities_AcceptsRemoteConfig |
        AgentCapabilities.AgentCapabilities_ReportsRemoteConfig,
    diagEnabled: true,
    onMessage: ({remoteConfig}) => {
        if (!remoteConfig) {
            return;
        }
        const files = remoteConfig.config ? remoteConfig.config.configMap : {};
        const names = Object.keys(files);
        print({
            event: 'config',
            hash: hex(remoteConfig.configHash),
            names,
            body: names.length ? Buffer.from(files[names[0]].body).toString('utf8') : '',
        });
        if (mode === 'fail') {
            client.setRemoteConfigStatus({
                lastRemoteConfigHash: remoteConfig.configHash,
                status: RemoteConfigStatuses.RemoteConfigStatuses_FAILED,
                errorMessage: env.OPAMP_FAIL_MESSAGE || 'config rejected by the test agent',
            });
        } else {
            client.setRemoteConfigStatus({
                lastRemoteConfigHash: remoteConfig.configHash,
                status: RemoteConfigStatuses.RemoteConfigStatuses_APPLIED,
            });
        }
    },
});

subscribe(DIAG_CH_SEND_SUCCESS, (m) => print({event: 'sent', seq: Number(m.a2s.sequenceNum), errorResponse: m.s2a.errorResponse ? m.s2a.errorResponse.errorMessage : null}));
subscribe(DIAG_CH_SEND_FAIL, (m) => print({event: 'failed', error: String(m.err && m.err.message ? m.err.message : m.err)}));

client.setAgentDescription({
    identifyingAttributes: {'service.name': env.OPAMP_SERVICE || 'npm-agent'},
    nonIdentifyingAttributes: {'host.name': 'test-host', 'os.type': process.platform},
});
client.start();
print({event: 'started', uid: hex(client.getInstanceUid ? client.getInstanceUid() : client._instanceUid)});

let stopping = false;
async function stop() {
    if (stopping) {
        return;
    }
    stopping = true;
    await client.shutdown();
    process.exit(0);
}
process.on('SIGTERM', stop);
process.stdin.on('end', stop);
process.stdin.resume();
