/** The compose-file helpers live with the local cluster that uses them (deploy/cluster/compose.ts). */
export * from '../../deploy/cluster/compose.ts';
