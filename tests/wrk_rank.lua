-- wrk script: POST the JSON body in the file named by $WRK_BODY (make edge-wrk writes it).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = assert(io.open(os.getenv("WRK_BODY"), "rb")):read("*a")
