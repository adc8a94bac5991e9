// A host port opened or closed for a container: the VM side listens for these to
// forward the same port from the user's machine into the VM.
export interface PortEvent {
  action: 'publish' | 'unpublish';
  containerId: string;
  proto: 'tcp' | 'udp';
  /** The address bound in the VM: "0.0.0.0", "::", "127.0.0.1", … */
  hostIp: string;
  hostPort: number;
  containerPort: number;
}

export type PortEventListener = (e: PortEvent) => void;
