"""bounce(8): delivery status notifications (RFC 3464), as Postfix writes them.

`notice` is the entry point (build_notice, build_postmaster_copy, notice_recipients);
`settings` reads main.cf once; `template` holds bounce(5)'s templates; `dsn`, `original`,
`headers` and `wrap` write the parts.  Pure: no I/O, no clock.
"""
