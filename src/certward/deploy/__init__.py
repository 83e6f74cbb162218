"""Writing certificates to Linux daemons (Postfix, Dovecot, nginx, plain files), reloading
them, verifying the live port by probe, and rolling back when the new certificate is not
served.

- :mod:`certward.deploy.material`: what is written (certificate, chain, key; the key never
  in ``repr``) and its check;
- :mod:`certward.deploy.files`: the files staged with owner and mode first, put in place
  together, the previous ones kept as ``.previous`` and put back;
- :mod:`certward.deploy.verify`: the certificate a port serves, by certward's prober in a
  child process;
- :mod:`certward.deploy.executor`: :func:`~certward.deploy.executor.apply`, the whole
  sequence on this machine, with no database (the host agent runs it too).

``docs/deploy.md`` describes each kind and the sequence."""
