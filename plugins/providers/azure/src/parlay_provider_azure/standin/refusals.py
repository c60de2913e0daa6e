"""The errors of Azure Resource Manager the stand-in answers with, worded as Azure words them."""

from __future__ import annotations

from parlay_provider_azure.standin.server import Reply


class Refusal(Exception):
    """An API error: the reply is `{"error": {"code", "message"}}` with `status`."""

    def __init__(self, status: int, code: str, message: str, target: str | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.target = status, code, message, target

    def reply(self) -> Reply:
        error = {"code": self.code, "message": self.message, **({"target": self.target} if self.target else {})}
        return Reply(self.status, {"error": error})


def invalid_token() -> Refusal:
    return Refusal(401, "InvalidAuthenticationToken", "The access token is invalid.")


def no_api_version() -> Refusal:
    text = "The api-version query parameter (?api-version=) is required for all requests."
    return Refusal(400, "MissingApiVersionParameter", text)


def no_such_type(what: str) -> Refusal:
    return Refusal(404, "InvalidResourceType", f"The resource type could not be found for '{what}'.")


def no_subscription(subscription: str) -> Refusal:
    return Refusal(404, "SubscriptionNotFound", f"The subscription '{subscription}' could not be found.")


def no_group(group: str) -> Refusal:
    return Refusal(404, "ResourceGroupNotFound", f"Resource group '{group}' could not be found.")


def no_resource(kind: str, name: str, group: str) -> Refusal:
    text = f"The Resource '{kind}/{name}' under resource group '{group}' was not found."
    return Refusal(404, "ResourceNotFound", text)


def no_location() -> Refusal:
    return Refusal(400, "LocationRequired", "The location property is required for this definition.")


def bad_filter(query: str) -> Refusal:
    return Refusal(400, "InvalidFilterInQueryString", f"Invalid $filter '{query}' specified in the query string.")


def not_allowed(method: str, what: str) -> Refusal:
    return Refusal(405, "MethodNotAllowed", f"The stand-in does not allow {method} on {what}.")


def missing_reference(reference: str, user: str) -> Refusal:
    text = (
        f"Resource {reference} referenced by resource {user} was not found. Please make sure that the referenced "
        "resource exists, and that both resources are in the same region."
    )
    return Refusal(400, "InvalidResourceReference", text)


def ip_in_use(ip: str, user: str) -> Refusal:
    return Refusal(400, "PublicIPAddressInUse", f"Resource {ip} is already in use by {user}.")


def nic_in_use(nic: str, user: str) -> Refusal:
    text = (
        f"Network Interface {nic} is used by existing resource {user}. In order to delete the network interface, "
        "it must be dissociated from the resource. To learn more, see aka.ms/deletenic."
    )
    return Refusal(400, "NicInUse", text)


def ip_allocated(ip: str, user: str) -> Refusal:
    text = (
        f"Public IP address {ip} can not be deleted since it is still allocated to resource {user}. In order to "
        "delete the public IP, disassociate/detach the Public IP address from the resource."
    )
    return Refusal(400, "PublicIPAddressCannotBeDeleted", text)


def subnet_in_use(subnet: str, user: str) -> Refusal:
    text = (
        f"Subnet {subnet} is in use by {user} and cannot be deleted. In order to delete the subnet, delete all the "
        "resources within the subnet. See aka.ms/deletesubnet."
    )
    return Refusal(400, "InUseSubnetCannotBeDeleted", text)


def disk_attached(disk: str, vm: str) -> Refusal:
    return Refusal(409, "OperationNotAllowed", f"Disk {disk} is attached to VM {vm}.")


def quota(detail: str) -> Refusal:
    text = f"Operation could not be completed as it results in exceeding approved Total Regional Cores quota. {detail}"
    return Refusal(409, "OperationNotAllowed", text)


def unknown_size(size: str, sizes: tuple[str, ...]) -> Refusal:
    text = (
        f"The value {size} provided for the VM size is not valid. The valid sizes in the current region are: "
        f"{', '.join(sizes)}. Find out more on the available VM sizes in each region at https://aka.ms/azure-regions."
    )
    return Refusal(400, "InvalidParameter", text, "vmSize")


def size_not_offered(size: str, location: str) -> Refusal:
    text = (
        f"The requested VM size for resource 'Following SKUs have failed for Capacity Restrictions: {size}' is "
        f"currently not available in location '{location}'. Please try another size or deploy to a different "
        "location or different zone. See https://aka.ms/azureskunotavailable for details."
    )
    return Refusal(409, "SkuNotAvailable", text)


def unknown_image(urn: str) -> Refusal:
    text = (
        f"The platform image '{urn}' is not available. Verify that all fields in the storage profile are correct. "
        "For more details about storage profile information, please refer to https://aka.ms/storageprofile"
    )
    return Refusal(404, "PlatformImageNotFound", text, "imageReference")


def missing_parameter(name: str) -> Refusal:
    return Refusal(400, "InvalidParameter", f"Required parameter '{name}' is missing (null).", name)


def weak_password() -> Refusal:
    text = (
        "The supplied password must be between 6-72 characters long and must satisfy at least 3 of password "
        "complexity requirements from the following: 1) Contains an uppercase character 2) Contains a lowercase "
        "character 3) Contains a numeric digit 4) Contains a special character 5) Control characters are not allowed"
    )
    return Refusal(400, "InvalidParameter", text, "adminPassword")


def bad_custom_data(limit: int) -> Refusal:
    text = f"Custom data in OSProfile must be in Base64 encoding and with a maximum length of {limit} characters."
    return Refusal(400, "InvalidParameter", text, "customData")


def allocation_failed(size: str) -> dict[str, str]:
    """The error a VM creation's long-running operation ends with when Azure has no capacity for its size."""
    text = (
        f"Allocation failed. We do not have sufficient capacity for the requested VM size {size} in this region. "
        "Read more about improving likelihood of allocation success at http://aka.ms/allocation-guidance"
    )
    return {"code": "AllocationFailed", "message": text}
