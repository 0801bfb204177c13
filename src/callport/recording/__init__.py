"""Call recording with consent: the consent machine (``consent``), the jurisdiction table
(``rules``), the two-channel recorder (``recorder``) and the driver that runs them on a call
(``run``)."""
