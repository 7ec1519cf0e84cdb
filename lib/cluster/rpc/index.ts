export { ClusterRpc, type ClusterRpcOptions } from './cluster-rpc';
