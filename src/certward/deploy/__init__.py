"""Writing certificates to Linux daemons (Postfix, Dovecot, nginx, plain files), reloading
them, verifying the live port by probe, and rolling back when the new certificate is not
served."""
