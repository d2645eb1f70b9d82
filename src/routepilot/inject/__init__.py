"""routepilot inject stage: desired exits -> BGP announcements (see ``injector.py``)."""
