"""How hadrill reaches and reads a platform: targets (command backends), nodes, etcd, gluster, NFS/VIP
state, the Docker engine and the Kubernetes API. No faults and no verdicts live here."""
